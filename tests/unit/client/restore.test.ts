import { expect, test } from "bun:test";
import { checkContent } from "../../../lib/client/restore.ts";
import { SocError } from "../../../lib/shared/errors.ts";
import { md5Bytes } from "../../../lib/shared/hash.ts";

const GOOD = md5Bytes("content");
const BAD = md5Bytes("damaged");

test("checkContent passes bytes whose md5 is the one the server named", () => {
  expect(() => checkContent("d/doc", { md5: GOOD }, GOOD, "/tmp/out")).not.toThrow();
});

test("checkContent refuses bytes whose md5 differs, naming the path and both digests", () => {
  expect(() => checkContent("d/doc", { md5: GOOD }, BAD, "/tmp/out")).toThrow(
    new SocError(
      "bad_content",
      `d/doc: the server sent bytes with md5 ${BAD} but named md5 ${GOOD} for them; its copy may be damaged (\`soc verify --server\`); nothing was written to /tmp/out`,
    ),
  );
});

test("checkContent refuses bytes the server named no md5 for (a proxy that drops x-soc-md5, an old server)", () => {
  expect(() => checkContent("d/doc", { md5: undefined }, BAD, "/tmp/out")).toThrow(
    `d/doc: the server sent bytes with md5 ${BAD} but named no md5 to check them against (no x-soc-md5 header: an old server, or a proxy dropping it); nothing was written to /tmp/out`,
  );
});

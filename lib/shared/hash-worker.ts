import { hashClaimed, type HashJob } from "./hash.ts";

declare const self: Worker;

// Entry of md5Files' helper workers: hash files claimed from the shared counter, then report once.
self.onmessage = (e: MessageEvent<HashJob>) => {
  postMessage(hashClaimed(e.data));
};

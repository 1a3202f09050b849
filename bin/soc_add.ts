#!/usr/bin/env bun
// The original tool's `soc_add` command: the same as `soc add`.
import { main } from "../cli.ts";

process.exit(await main(["add", ...process.argv.slice(2)]));

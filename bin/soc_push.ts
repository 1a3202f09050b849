#!/usr/bin/env bun
// The original tool's `soc_push` command: the same as `soc push`.
import { main } from "../cli.ts";

process.exit(await main(["push", ...process.argv.slice(2)]));

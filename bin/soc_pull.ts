#!/usr/bin/env bun
// The original tool's `soc_pull` command: the same as `soc pull`.
import { main } from "../cli.ts";

process.exit(await main(["pull", ...process.argv.slice(2)]));

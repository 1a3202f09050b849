/** A C source imported `with { type: "file" }` (stat-core.ts): its path, inside a compiled soc too. */
declare module "*.c" {
  const path: string;
  export default path;
}

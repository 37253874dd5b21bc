import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * A bench command's flags: `--help` prints `usage` and exits 0; an unknown flag or a missing
 * value prints what was wrong and `usage`, and exits 2 (instead of a stack trace).
 */
export function readFlags<T extends Options>(argv: string[], options: T, usage: string): ReturnType<typeof parseArgs<{ args: string[]; options: T }>>['values'] {
  if (argv.includes('--help')) {
    console.log(usage);
    process.exit(0);
  }
  try {
    return parseArgs({ args: argv, options }).values;
  } catch (err) {
    return badFlag((err as Error).message, usage);
  }
}

/** Exits 2 with `message` and `usage`: a flag's value was unusable. */
export function badFlag(message: string, usage: string): never {
  console.error(`${message}\n${usage}`);
  process.exit(2);
}

/** A flag's value as a whole number of at least 1 (`fallback` when the flag is absent), or exit 2. */
export function countFlag(flag: string, value: string | undefined, fallback: number, usage: string): number {
  const n = Number(value ?? fallback);
  return Number.isInteger(n) && n >= 1 ? n : badFlag(`--${flag}: expected a whole number of at least 1, got "${value}"`, usage);
}

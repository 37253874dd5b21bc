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

#!/usr/bin/env node
/**
 * The `s3lync` command (the package's bin): parses the command line, runs the command
 * with Ctrl-C cancelling it, and turns the outcome into output and an exit code. The
 * parts live in `cli/`: parsing (`args.ts`), help texts (`help.ts`), formatting
 * (`format.ts`), and the commands (`transfer.ts` for cp/sync, `objects.ts` for ls/rm/cat),
 * each a call to `S3Object` or its client.
 *
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';

import { parseCli } from './cli/args.js';
import { UsageError, type CliCommand, type RunCommand } from './cli/command.js';
import type { CommandContext } from './cli/context.js';
import { credentialsHint, errorMessage, formatError } from './cli/format.js';
import { HELP, USAGE } from './cli/help.js';
import { cat, list, remove } from './cli/objects.js';
import { Output } from './cli/output.js';
import { transfer } from './cli/transfer.js';
import { check, copyRemote, move } from './cli/remote.js';
import { S3lyncError } from './exceptions.js';
import { configureLogging, redact } from './logging.js';

/** Why a command stopped on Ctrl-C. */
class InterruptedError extends S3lyncError {
  constructor() {
    super('interrupted');
  }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Prints a usage error and the command's usage line; resolves to exit code 2. */
function usageFailure(error: UsageError): number {
  process.stderr.write(`s3lync: ${redact(error.message)}\n${USAGE[error.command ?? 'main']}\n`);
  return 2;
}

/** Runs the command line `argv` (without `node` and the script); resolves to the exit code. */
async function main(argv: readonly string[]): Promise<number> {
  let command: CliCommand;
  try {
    command = parseCli(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return usageFailure(error);
  }
  if (command.kind === 'help') {
    process.stdout.write(`${HELP[command.topic ?? 'main']}\n`);
    return 0;
  }
  if (command.kind === 'version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const { global } = command;
  if (global.debug) configureLogging({ level: 'debug' });
  // The SDK's advice to move to Node 22 is eight lines on every run; --debug shows it.
  if (!global.debug) process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // The AWS SDK reads the profile (credentials, region) from here.
  if (global.profile !== undefined) process.env.AWS_PROFILE = global.profile;
  return runInterruptible(command, new Output(global));
}

/**
 * Runs a command that Ctrl-C cancels (a second Ctrl-C exits at once), and reports how it
 * failed; resolves to the exit code (130 when interrupted).
 */
async function runInterruptible(command: RunCommand, out: Output): Promise<number> {
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) {
      out.error('s3lync: interrupted again; exiting without cleaning up');
      process.exit(130);
    }
    out.error('s3lync: interrupted; cancelling what is in flight (Ctrl-C again to force)');
    controller.abort(new InterruptedError());
  };
  process.on('SIGINT', onSigint);
  try {
    const code = await run(command, { global: command.global, out, signal: controller.signal });
    return controller.signal.aborted ? 130 : code;
  } catch (error) {
    if (controller.signal.aborted) {
      out.error(
        's3lync: interrupted; transfers in flight were cancelled and their temp files removed',
      );
      return 130;
    }
    // Bad usage found only once the command runs (e.g. where a file would land).
    if (error instanceof UsageError) return usageFailure(error);
    return failure(command, error, out);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** Prints why a command failed (with what to do about missing credentials); exit code 1. */
function failure(command: RunCommand, error: unknown, out: Output): number {
  const { global } = command;
  const hint = credentialsHint(error, global.profile);
  const text = formatError(error, global.debug);
  out.error(hint === undefined ? text : `${text}${global.debug ? '\n' : ' '}${hint}`);
  const message = errorMessage(error);
  out.json({
    command: command.kind,
    ok: false,
    error: hint === undefined ? message : `${message} ${hint}`,
  });
  return 1;
}

function run(command: RunCommand, context: CommandContext): Promise<number> {
  switch (command.kind) {
    case 'cp':
    case 'sync':
      if (command.transfer.target !== undefined) {
        return copyRemote(command.kind, command.transfer, context);
      }
      return transfer(command.kind, command.transfer, context);
    case 'mv':
      return move(command.transfer, context);
    case 'check':
      return check(command.transfer, context);
    case 'ls':
      return list(command.uri, command.recursive, context);
    case 'rm':
      return remove(command.uri, command.recursive, context);
    case 'cat':
      return cat(command.uri, context);
  }
}

process.exitCode = await main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${redact(formatError(error, true))}\n`);
  return 1;
});

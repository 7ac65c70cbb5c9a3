/** Argument parsers shared by the commands. */
import { InvalidArgumentError } from 'commander';
import { ID_RULE, isValidId } from '@yoto/shared';

/** A sweep id as commander's argument parser: refused before any connection is made. */
export function sweepIdArg(value: string): string {
  if (!isValidId(value)) throw new InvalidArgumentError(`not a sweep id (${ID_RULE})`);
  return value;
}

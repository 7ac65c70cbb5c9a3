/** Argument parsers shared by the commands. */
import { InvalidArgumentError } from 'commander';
import { ID_RULE, isValidId } from '@yoto/shared';

function idArg(what: string): (value: string) => string {
  return (value) => {
    if (!isValidId(value)) throw new InvalidArgumentError(`not a ${what} id (${ID_RULE})`);
    return value;
  };
}

/** A sweep id as commander's argument parser: refused before any connection is made. */
export const sweepIdArg = idArg('sweep');

/** A run id (`yoto status SWEEP` lists them), refused like a sweep id. */
export const runIdArg = idArg('run');

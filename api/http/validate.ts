import { z } from 'zod';
import { AppError, ErrorCode } from '../../domain/errors';

/** Parses input with a schema; bad input becomes a 400 listing every problem. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new AppError(
      ErrorCode.ValidationFailed,
      'the request is not valid',
      result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  }
  return result.data;
}

/** The body of a route that takes none: absent or `{}`; anything in it is a client bug worth surfacing. */
export const noBody = z.object({}).strict();

import { z } from 'zod';
import { digitsInt } from '../../domain/input/fields';

/**
 * The query of a cursor-paginated list. The cursor is only checked for its alphabet here; its
 * content is checked (as ours, with real values inside) by whoever decodes it. A repeated
 * parameter (`?limit=1&limit=2`) arrives as an array and is refused.
 */
export const pageQuery = z
  .object({
    cursor: z.string().min(1).max(512).regex(/^[A-Za-z0-9_-]+$/, 'a cursor from a previous page').optional(),
    limit: digitsInt(1, 100).default(20),
  })
  .strict();

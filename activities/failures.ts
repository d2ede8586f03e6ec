import { ApplicationFailure } from '@temporalio/activity';
import { AppError } from '../domain/errors';

/**
 * Runs an activity body, turning a domain refusal (insufficient funds, unknown user, ...) into
 * a non-retryable failure with the stable code as its type; anything else is retried.
 */
export async function asActivity<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof AppError) {
      throw ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: true });
    }
    throw err;
  }
}

import { Client, Connection, type ConnectionOptions, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';

/**
 * Every call to Temporal from the API gets a deadline unless it set its own: without one a call
 * to a stalled server (or an Update whose worker is gone) waits forever. 20 s is under the
 * spec's 30 s request budget and above the longest legitimate wait, an OTP send riding out the
 * SMS provider's retries (1, 2 and 4 s). Past it the caller gets 503 DEPENDENCY_UNAVAILABLE.
 */
export const TEMPORAL_CALL_DEADLINE_MS = 20_000;
const CONNECT_TIMEOUT_MS = 5_000;

type Interceptor = NonNullable<ConnectionOptions['interceptors']>[number];

// grpc-js only needs the call interface nextCall returns (its typings ask for the class).
const defaultDeadline: Interceptor = (options, nextCall) =>
  nextCall({ ...options, deadline: options.deadline ?? Date.now() + TEMPORAL_CALL_DEADLINE_MS }) as ReturnType<Interceptor>;

/** One Temporal client per process. */
export async function connectTemporalClient(options: { address: string; namespace: string }): Promise<Client> {
  const connection = await Connection.connect({
    address: options.address,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // The deadline wraps the default retries, so retrying an unavailable server stops at it too.
    interceptors: [defaultDeadline, makeGrpcRetryInterceptor(defaultGrpcRetryOptions())],
  });
  return new Client({ connection, namespace: options.namespace });
}

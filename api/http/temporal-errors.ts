import {
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { AppError, ErrorCode } from '../../domain/errors';

/** gRPC status codes (see grpc/status.h) that mean "try again later". */
const GrpcStatus = { DEADLINE_EXCEEDED: 4, UNAVAILABLE: 14 } as const;

/** HTTP status for each code a workflow may refuse an update with. */
const UPDATE_REFUSALS: Partial<Record<string, number>> = {
  [ErrorCode.AlreadyClaimedToday]: 409,
  [ErrorCode.InsufficientFunds]: 409,
  [ErrorCode.IdempotencyConflict]: 409,
  [ErrorCode.UserNotFound]: 404,
  [ErrorCode.ValidationFailed]: 422,
  [ErrorCode.DependencyUnavailable]: 503,
  [ErrorCode.OtpResendCooldown]: 429,
  [ErrorCode.OtpSendLimit]: 429,
  [ErrorCode.OtpInvalidCode]: 400,
  [ErrorCode.OtpAttemptsExhausted]: 429,
  [ErrorCode.OtpExpired]: 400,
  [ErrorCode.OtpNotRequested]: 400,
  [ErrorCode.OtpAlreadyUsed]: 400,
  [ErrorCode.OtpSmsRejected]: 422,
};

/** Maps Temporal client errors once, for every route: refusals keep their stable code. */
export function translateTemporalError(err: unknown): unknown {
  if (err instanceof WorkflowUpdateFailedError) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure && cause.type) {
      const status = UPDATE_REFUSALS[cause.type] ?? 409;
      return new AppError(cause.type as ErrorCode, cause.message, status, cause.details?.[0]);
    }
    return new AppError(ErrorCode.FlowConflict, 'the flow refused the request', 409);
  }
  if (err instanceof WorkflowNotFoundError) return new AppError(ErrorCode.NotFound, 'no such flow', 404);
  if (err instanceof WorkflowExecutionAlreadyStartedError) {
    return new AppError(ErrorCode.FlowConflict, 'the flow is already running', 409);
  }
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
    return new AppError(ErrorCode.DependencyUnavailable, 'the flow did not answer in time; retrying is safe', 503);
  }
  if (err instanceof ServiceError) {
    const code = (err.cause as { code?: number } | undefined)?.code;
    if (code === GrpcStatus.UNAVAILABLE || code === GrpcStatus.DEADLINE_EXCEEDED) {
      return new AppError(ErrorCode.DependencyUnavailable, 'the workflow service is unavailable; retrying is safe', 503);
    }
  }
  return err;
}

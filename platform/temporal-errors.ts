import {
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { AppError, ErrorCode } from '../domain/errors';

/** gRPC status codes (see grpc/status.h) that mean "try again later". */
const GrpcStatus = { DEADLINE_EXCEEDED: 4, UNAVAILABLE: 14 } as const;

/** Maps Temporal client errors once, for every route: refusals keep their stable code. */
export function translateTemporalError(err: unknown): unknown {
  if (err instanceof WorkflowUpdateFailedError) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure && cause.type) {
      return new AppError(cause.type as ErrorCode, cause.message, cause.details?.[0]);
    }
    return new AppError(ErrorCode.FlowConflict, 'the flow refused the request');
  }
  if (err instanceof WorkflowNotFoundError) return new AppError(ErrorCode.NotFound, 'no such flow');
  if (err instanceof WorkflowExecutionAlreadyStartedError) {
    return new AppError(ErrorCode.FlowConflict, 'the flow is already running');
  }
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
    return new AppError(ErrorCode.DependencyUnavailable, 'the flow did not answer in time; retrying is safe');
  }
  if (err instanceof ServiceError) {
    const code = (err.cause as { code?: number } | undefined)?.code;
    if (code === GrpcStatus.UNAVAILABLE || code === GrpcStatus.DEADLINE_EXCEEDED) {
      return new AppError(ErrorCode.DependencyUnavailable, 'the workflow service is unavailable; retrying is safe');
    }
  }
  return err;
}

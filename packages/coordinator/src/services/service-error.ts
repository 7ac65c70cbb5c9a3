/** Failures of the embedded services, each with a stable code and a message that says what to do. */
export type ServiceErrorCode = 'REDIS_SERVER_NOT_FOUND' | 'SERVICE_START_FAILED' | 'SERVICES_ALREADY_RUNNING' | 'WORKER_ENTRY_NOT_FOUND';

export class ServiceError extends Error {
  readonly code: ServiceErrorCode;
  constructor(code: ServiceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ServiceError';
    this.code = code;
  }
}

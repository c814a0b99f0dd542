/**
 * Names of the environment variables a service's pod gets and its kit reads
 * (charts/pod-env.ts writes them, apps/kit/config.ts reads them). The library
 * (constructs/) sets SERVICE_NAME, PORT, ADMIN_PORT and DATABASE_URL itself, for any app.
 */
export const envNames = {
  serviceName: 'SERVICE_NAME',
  port: 'PORT',
  adminPort: 'ADMIN_PORT',
  host: 'HOST',
  databaseUrl: 'DATABASE_URL',
  kafkaBrokers: 'KAFKA_BROKERS',
  kafkaClientId: 'KAFKA_CLIENT_ID',
  kafkaProduceTopics: 'KAFKA_PRODUCE_TOPICS',
  kafkaConsumeTopics: 'KAFKA_CONSUME_TOPICS',
  kafkaGroupId: 'KAFKA_GROUP_ID',
  httpClientTimeoutMs: 'HTTP_CLIENT_TIMEOUT_MS',
  jwtIssuer: 'JWT_ISSUER',
  jwtAudience: 'JWT_AUDIENCE',
} as const;

/** The variable holding the base URL of a service its caller calls: `PAYMENT_URL`. */
export const serviceUrlEnv = (service: string): string => `${service.toUpperCase()}_URL`;

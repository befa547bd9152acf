/**
 * Broker transports: RabbitMQ, NATS JetStream and Redis Streams behind one {@link Transport} interface.
 * `openTransport(url, { name })` picks the broker by the URL's scheme; see ./types.ts for the contract.
 */
export { openTransport } from './types.js';
export type {
  Change,
  ConsumeOptions,
  DeadLetter,
  Delivery,
  OpenTransportOptions,
  Transport,
  TransportLogger,
} from './types.js';
export { parseBrokerUrl } from './shared.js';

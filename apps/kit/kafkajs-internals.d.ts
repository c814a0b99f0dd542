/** kafkajs's request queue (CommonJS, untyped): apps/kit/kafka-idle-loop-fix.ts replaces one of its methods. */
declare module 'kafkajs/src/network/requestQueue/index.js' {
  const RequestQueue: unknown;
  export default RequestQueue;
}

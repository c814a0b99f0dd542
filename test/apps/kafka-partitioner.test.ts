import { randomBytes, randomUUID } from 'node:crypto';
import { Partitioners, type PartitionerArgs } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { keyHashPartitioner, murmur2 } from '../../apps/kit/index.js';

const metadata = (partitions: number): PartitionerArgs['partitionMetadata'] =>
  Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));

describe('the producers key hash partitioner', () => {
  it('sends every key to the partition kafkajs DefaultPartitioner sends it to', () => {
    const ours = keyHashPartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    const keys: Array<string | Buffer> = [
      '',
      'a',
      'ab',
      'abc',
      'abcd',
      'é',
      '订单-42',
      ...Array.from({ length: 2000 }, () => randomUUID()),
      ...Array.from({ length: 2000 }, (_, i) => randomBytes(i % 41)),
    ];
    for (const key of keys) {
      for (const partitions of [1, 2, 3, 4, 7, 12, 50]) {
        const args = { topic: 't', partitionMetadata: metadata(partitions), message: { key, value: 'v' } };
        expect(ours(args)).toBe(theirs(args));
      }
    }
  });

  it('hashes as Kafka does (values of the Java client)', () => {
    // org.apache.kafka.common.utils.Utils.murmur2 of these UTF-8 strings, from Kafka's UtilsTest.
    expect(murmur2('21')).toBe(-973932308);
    expect(murmur2('foobar')).toBe(-790332482);
    expect(murmur2('a-little-bit-long-string')).toBe(-985981536);
    expect(murmur2('a-little-bit-longer-string')).toBe(-1486304829);
    expect(murmur2('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8')).toBe(-58897971);
  });

  it('leaves a given partition as it is and spreads keyless messages over the partitions', () => {
    const ours = keyHashPartitioner();
    expect(ours({ topic: 't', partitionMetadata: metadata(3), message: { key: 'k', value: 'v', partition: 2 } })).toBe(2);
    const spread = new Set(Array.from({ length: 30 }, () => ours({ topic: 't', partitionMetadata: metadata(3), message: { key: null, value: 'v' } })));
    expect([...spread].sort()).toEqual([0, 1, 2]);
  });
});

import { describe, expect, it } from 'vitest';
import { parseImageReference } from '../../core/image-reference.js';

describe('parseImageReference', () => {
  it.each([
    ['pytorch/pytorch:2.3', { registry: 'docker.io', repository: 'pytorch/pytorch', tag: '2.3' }],
    ['ubuntu', { registry: 'docker.io', repository: 'library/ubuntu' }],
    ['index.docker.io/library/ubuntu:22.04', { registry: 'docker.io', repository: 'library/ubuntu', tag: '22.04' }],
    ['localhost:5000/team/app', { registry: 'localhost:5000', repository: 'team/app' }],
    ['public.ecr.aws/lambda/python:3.12', { registry: 'public.ecr.aws', repository: 'lambda/python', tag: '3.12' }],
    [
      `nvcr.io/nvidia/pytorch:24.01-py3@sha256:${'0123456789abcdef'.repeat(4)}`,
      { registry: 'nvcr.io', repository: 'nvidia/pytorch', tag: '24.01-py3', digest: `sha256:${'0123456789abcdef'.repeat(4)}` },
    ],
  ])('parses %s', (reference, expected) => {
    expect(parseImageReference(reference)).toEqual(expected);
  });

  it.each(['', 'ubuntu:', ':latest', 'a//b', 'UPPER/Repo', 'ubuntu:bad tag', 'ubuntu@md5:abc', '-leading/dash'])(
    'rejects %j',
    (reference) => {
      expect(parseImageReference(reference)).toBeUndefined();
    },
  );

  it('rejects a reference over 512 characters, as the schema does', () => {
    expect(parseImageReference(`r.io/${'a'.repeat(507)}`)).toBeDefined();
    expect(parseImageReference(`r.io/${'a'.repeat(508)}`)).toBeUndefined();
  });

  it.each([
    ['a registry host that is not a domain name', 'my_registry.io/app'],
    ['a digest with a prefix', `ubuntu@xsha256:${'ab'.repeat(32)}`],
    ['a digest of 65 hex digits', `ubuntu@sha256:${'ab'.repeat(32)}0`],
  ])('rejects %s', (_case, reference) => {
    expect(parseImageReference(reference)).toBeUndefined();
  });

  it.each([
    ['localhost/team/app', { registry: 'localhost', repository: 'team/app' }],
    ['MyRegistry/app', { registry: 'myregistry', repository: 'app' }],
    ['M/app', { registry: 'm', repository: 'app' }],
  ])('reads %s as a registry host, as Docker does (localhost, or upper case)', (reference, expected) => {
    expect(parseImageReference(reference)).toEqual(expected);
  });
});

/**
 * A minimal client of the Kubernetes CRI `runtime.v1` ImageService, i.e. how the kubelet asks
 * containerd to pull. There is no crictl in Debian 12; this is enough to pull (with optional
 * credentials), inspect and remove images through containerd's CRI plugin, whose registry
 * `config_path` (hosts.toml) is how a node is pointed at Shoal's mirror.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { Credentials } from './registry.ts';

const PROTO_PATH = fileURLToPath(new URL('./cri-runtime-v1.proto', import.meta.url));

/** An image as the CRI reports it. */
export interface CriImage {
  /** Image ID: the config digest (`sha256:...`) for containerd. */
  id: string;
  repoTags: string[];
  /** `host/repo@sha256:<manifest digest>` */
  repoDigests: string[];
  size: number;
}

/** CRI runtime identity, from `RuntimeService.Version`. */
export interface CriVersion {
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

/** Options for {@link CriClient.pullImage}. */
export interface CriPullOptions {
  /** Sent as `AuthConfig{username,password}`, as the kubelet does from an imagePullSecret. */
  auth?: Credentials;
  /** gRPC deadline (default 300 s). */
  timeoutMs?: number;
}

/** A connected CRI client. */
export interface CriClient {
  version(): Promise<CriVersion>;
  /** Pulls (and unpacks) `ref`; resolves with the image ref containerd reports (the image ID). */
  pullImage(ref: string, opts?: CriPullOptions): Promise<string>;
  /** `null` if the image is not present. */
  imageStatus(ref: string): Promise<CriImage | null>;
  listImages(): Promise<CriImage[]>;
  /** Idempotent, like the CRI says. */
  removeImage(ref: string): Promise<void>;
  close(): void;
}

interface RawImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: number | string;
}

type Callback<T> = (err: grpc.ServiceError | null, res?: T) => void;
type Unary = (req: object, meta: grpc.Metadata, opts: grpc.CallOptions, cb: Callback<unknown>) => void;

let definition: grpc.GrpcObject | undefined;

function loadDefinition(): grpc.GrpcObject {
  // keepCase false: fields arrive camelCased (repoTags); longs as Numbers (image sizes < 2^53).
  definition ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(PROTO_PATH, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true }),
  );
  return definition;
}

function serviceCtor(name: 'ImageService' | 'RuntimeService'): grpc.ServiceClientConstructor {
  const runtime = loadDefinition()['runtime'] as grpc.GrpcObject;
  const v1 = runtime['v1'] as grpc.GrpcObject;
  return v1[name] as grpc.ServiceClientConstructor;
}

function toImage(raw: RawImage): CriImage {
  return { id: raw.id, repoTags: raw.repoTags, repoDigests: raw.repoDigests, size: Number(raw.size) };
}

/**
 * Connects to a CRI endpoint on a unix socket (containerd serves CRI on its main gRPC socket).
 * The connection is lazy; the first call establishes it.
 */
export function connectCri(socketPath: string): CriClient {
  const target = `unix://${socketPath}`;
  const creds = grpc.credentials.createInsecure();
  // containerd's default max message size is 16 MiB; image lists are far below that.
  const images = new (serviceCtor('ImageService'))(target, creds);
  const runtime = new (serviceCtor('RuntimeService'))(target, creds);

  function call<T>(client: grpc.Client, method: string, req: object, timeoutMs = 30_000): Promise<T> {
    const fn = (client as unknown as Record<string, Unary>)[method];
    if (!fn) throw new Error(`CRI client has no method ${method}`);
    return new Promise<T>((resolve, reject) => {
      fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(new Error(`CRI ${method} failed: ${err.details || err.message}`, { cause: err }));
        else resolve(res as T);
      });
    });
  }

  return {
    async version() {
      const res = await call<CriVersion>(runtime, 'Version', { version: 'v1' });
      return { runtimeName: res.runtimeName, runtimeVersion: res.runtimeVersion, runtimeApiVersion: res.runtimeApiVersion };
    },
    async pullImage(ref, opts = {}) {
      const req: Record<string, unknown> = { image: { image: ref } };
      if (opts.auth) req['auth'] = { username: opts.auth.username, password: opts.auth.password };
      const res = await call<{ imageRef: string }>(images, 'PullImage', req, opts.timeoutMs ?? 300_000);
      return res.imageRef;
    },
    async imageStatus(ref) {
      const res = await call<{ image: RawImage | null }>(images, 'ImageStatus', { image: { image: ref } });
      return res.image ? toImage(res.image) : null;
    },
    async listImages() {
      const res = await call<{ images: RawImage[] }>(images, 'ListImages', {});
      return res.images.map(toImage);
    },
    async removeImage(ref) {
      await call<object>(images, 'RemoveImage', { image: { image: ref } });
    },
    close() {
      images.close();
      runtime.close();
    },
  };
}

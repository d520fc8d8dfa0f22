// The pages shown instead of the app when the engine cannot run: WebGPU missing (with the reason the worker gave and
// what to do about it), and the short wait while the worker acquires the GPU.

import { useApp } from './store';

export function NoWebGPU() {
  const reason = useApp((s) => s.gpu.reason);
  const secure = typeof window === 'undefined' || window.isSecureContext;
  return (
    <div className="fullpage" data-testid="no-webgpu">
      <h1>WebGPU is not available</h1>
      <p className="lead">
        Inheritune Studio trains GPT-2 models on your GPU through WebGPU, and this browser did not give it a GPU
        adapter.
      </p>
      {reason && (
        <p className="reason">
          <b>Reason:</b> <span data-testid="no-webgpu-reason">{reason}</span>
        </p>
      )}
      {!secure && (
        <p className="reason">
          This page is not in a secure context: WebGPU exists only on <code>https://</code> pages and on{' '}
          <code>http://localhost</code> or <code>http://127.0.0.1</code>.
        </p>
      )}
      <h2>Browsers that work</h2>
      <ul>
        <li>
          <b>Chrome or Edge 113+</b> on Windows, macOS and ChromeOS: on by default.
        </li>
        <li>
          <b>Chrome on Linux</b>: start it with <code>--enable-unsafe-webgpu</code> (add{' '}
          <code>--enable-features=Vulkan</code> if needed), or enable <code>chrome://flags/#enable-unsafe-webgpu</code>,
          with working Vulkan drivers.
        </li>
        <li>
          <b>Safari 26+</b> on macOS and iOS.
        </li>
        <li>
          <b>Firefox 141+</b> on Windows (other platforms: Nightly, <code>dom.webgpu.enabled</code>).
        </li>
      </ul>
      <h2>Also check</h2>
      <ul>
        <li>
          The page must be served over <code>https://</code>, or from <code>http://127.0.0.1</code> /{' '}
          <code>http://localhost</code>.
        </li>
        <li>
          <code>chrome://gpu</code> lists “WebGPU: Hardware accelerated”; a blocklisted GPU or driver disables it (
          <code>--ignore-gpu-blocklist</code> overrides).
        </li>
        <li>Hardware acceleration is switched on in the browser settings.</li>
      </ul>
    </div>
  );
}

export function Starting() {
  return (
    <div className="fullpage starting" data-testid="starting">
      <div className="spinner" aria-hidden="true" />
      <p className="lead">Starting the GPU engine…</p>
    </div>
  );
}

// Every error the worker reported, with its scope, until the user dismisses it (or a new command in the same scope
// clears it, store.send). The container is always in the page, empty when all is well, so tests can query it.

import { useApp } from './store';

export function Errors() {
  const errors = useApp((s) => s.errors);
  const dismiss = useApp((s) => s.dismissError);
  return (
    <div className="errors" data-testid="error" role="alert" aria-live="assertive" data-count={errors.length}>
      {errors.map((e) => (
        <div key={e.id} className="error-item" data-testid="error-item" data-scope={e.scope}>
          <span className="error-scope">{e.scope}</span>
          <span className="error-message">{e.message}</span>
          <button type="button" className="link" aria-label="dismiss" title="Dismiss" onClick={() => dismiss(e.id)}>
            ✕
          </button>
        </div>
      ))}
    </div>
  );
}

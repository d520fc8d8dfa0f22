// The app shell: picks the page for the GPU state (starting, unavailable, ready) and lays the panels out in two
// columns: what goes in (inputs, reference, run form) on the left, what comes out (numbers, charts, accounting,
// report, sampling, export) on the right. Each panel subscribes to its own slice of the store.

import './app.css';
import { Accounting } from './Accounting';
import { Charts } from './Charts';
import { Errors } from './Errors';
import { ExportPanel } from './ExportPanel';
import { Header } from './Header';
import { Inputs } from './Inputs';
import { KernelTimes } from './KernelTimes';
import { Metrics } from './Metrics';
import { NoWebGPU, Starting } from './NoWebGPU';
import { ReferenceCard } from './ReferenceCard';
import { ReportTable } from './ReportTable';
import { RunControls } from './RunControls';
import { SamplePanel } from './SamplePanel';
import { useApp } from './store';

export function App() {
  const status = useApp((s) => s.gpu.status);
  if (status === 'unavailable') {
    return (
      <div className="app">
        <Errors />
        <NoWebGPU />
      </div>
    );
  }
  return (
    <div className="app">
      <Header />
      <Errors />
      {status === 'starting' ? (
        <Starting />
      ) : (
        <main className="layout">
          <div className="col col-in">
            <Inputs />
            <ReferenceCard />
            <RunControls />
          </div>
          <div className="col col-out">
            <Metrics />
            <Charts />
            <div className="pair">
              <Accounting />
              <KernelTimes />
            </div>
            <ReportTable />
            <div className="pair">
              <SamplePanel />
              <ExportPanel />
            </div>
          </div>
        </main>
      )}
    </div>
  );
}

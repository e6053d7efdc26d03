import { RECORD_ROWS } from '../store/tests';
import { useStudio } from '../store/store';

/** "Record as test": records the open graph's sources and previewed targets into a draft test. */
export function RecordTestButton({ onRecorded }: { onRecorded?: () => void }) {
  const busy = useStudio((s) => s.testsBusy);
  const hasGraph = useStudio((s) => s.nodes.length > 0);
  const record = useStudio((s) => s.recordTest);
  return (
    <button
      className="small"
      disabled={!hasGraph || busy !== null}
      title={`Run the graph's sources for their first ${RECORD_ROWS} rows and record what the sinks and the previewed edge receive`}
      onClick={() => void record().then((ok) => ok && onRecorded?.())}
      data-testid="record-test"
    >
      {busy === 'recording' ? 'Recording…' : 'Record as test'}
    </button>
  );
}

import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { APIError } from '../backend/types';
import { resetStudio, useStudio } from '../store/store';
import { fakeBackend } from '../test/fixtures';
import { SettingsPanel } from './SettingsPanel';

afterEach(() => {
  cleanup();
  resetStudio();
});

describe('SettingsPanel', () => {
  it('shows the workspace, adds and removes allowed directories, and reports a refusal', async () => {
    const sent: string[][] = [];
    useStudio.setState({
      backend: fakeBackend({
        getSettings: () => Promise.resolve({ workspace: '/home/u/atoll/workspace', allowed_dirs: ['/data/a'] }),
        setAllowedDirs: (dirs: string[]) => {
          sent.push(dirs);
          if (dirs.some((d) => !d.startsWith('/'))) return Promise.reject(new APIError('allowed directory "rel": want an absolute path', 400));
          return Promise.resolve({ workspace: '/home/u/atoll/workspace', allowed_dirs: dirs });
        },
      }),
    });
    render(<SettingsPanel />);
    expect((await screen.findByTestId('settings-workspace')).textContent).toBe('/home/u/atoll/workspace');
    expect(screen.getByTestId('allowed-dir-0').textContent).toContain('/data/a');

    const input = screen.getByTestId('allowed-dir-input') as HTMLInputElement;
    fireEvent.change(input, { target: { value: ' /data/b ' } });
    await act(async () => fireEvent.click(screen.getByTestId('allowed-dir-add')));
    expect(sent.at(-1)).toEqual(['/data/a', '/data/b']);
    expect(screen.getByTestId('allowed-dir-1').textContent).toContain('/data/b');
    expect(input.value).toBe('');

    fireEvent.change(input, { target: { value: 'rel' } });
    await act(async () => fireEvent.click(screen.getByTestId('allowed-dir-add')));
    expect(useStudio.getState().toasts.at(-1)?.text).toContain('want an absolute path');
    expect(input.value).toBe('rel'); // kept, to correct it
    expect(screen.queryByTestId('allowed-dir-2')).toBeNull();

    await act(async () => fireEvent.click(screen.getByTestId('allowed-dir-remove-0')));
    expect(sent.at(-1)).toEqual(['/data/b']);
    expect(screen.getByTestId('allowed-dir-0').textContent).toContain('/data/b');
  });
});

"""Everything that touches the disk, one module a concern; nothing else in envsync-hook opens a
file for writing.

It writes only to the env file's own (resolved) directory, the backup directory and the report
files named on the command line. Every failure is an :class:`~envsync_hook.errors.EnvsyncError`
whose message is one line naming the file, never its contents.

- :mod:`.confine`: where an operation may lead (the dir-fd walk, :class:`~.confine.Dir`, the
  project folder); every other module builds on it.
- :mod:`.reading`: whole-file reads as text, with their refusals; pipes; large files.
- :mod:`.targets`: what fix and restore may write, checked before anything is created.
- :mod:`.atomic`: atomic replacement (temporary files, fsync, mode and owner, unchanged since
  read).
- :mod:`.locking`: the per-env-file lock.
- :mod:`.backups` and :mod:`.backup_meta`: making, listing and picking backups; whose they are.
- :mod:`.restore`: putting a backup back.
- :mod:`.reports`: report files.

Guarantees (DESIGN.md section 7): a file with a backup's name is always a complete copy,
fsynced before the env file changes; the env file is replaced atomically, keeping its mode and
(where permitted) owner, a symlinked env file staying a symlink; a crash leaves it wholly old or
wholly new; concurrent runs on one env file take turns on a lock that leaves no file behind.
"""

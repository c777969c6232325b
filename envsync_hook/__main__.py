from envsync_hook.cli import main

raise SystemExit(main())

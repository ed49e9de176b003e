from ckpt_tui.cli import main

raise SystemExit(main())

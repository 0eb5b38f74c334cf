from bg_pppd.cli import main

raise SystemExit(main())

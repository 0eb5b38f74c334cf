from bg_pppd.cli.main import main

raise SystemExit(main())

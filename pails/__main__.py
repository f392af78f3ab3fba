from pails.cli import main

raise SystemExit(main())

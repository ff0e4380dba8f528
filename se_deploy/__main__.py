"""`python -m se_deploy` runs the CLI."""

from se_deploy.cli import main

main()

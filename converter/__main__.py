"""`python -m converter` runs the graphtool command line."""

from converter.cli import main

main()

from cisgram.cli import main

main()

from cisgram.cli.app import main

main()

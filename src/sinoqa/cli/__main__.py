from sinoqa.cli import main

main()

// skv-studio entry point (the GUI issue fills the panels).
int main() { return 0; }

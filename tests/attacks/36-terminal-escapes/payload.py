# ATTACK terminal-escapes: OSC/CSI sequences in the error text (set the title, clear the screen, hide text).
raise SystemExit("ATTACK terminal-escapes \x1b]0;PWNED\x07\x1b[2J\x1b[8mhidden\x1b[0m \x9b31m \u202eevil")

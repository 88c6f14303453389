"""Native (compiled) MLX programs: building them against the installed wheel, and the
interposer library that gives a compiled program heartbeats (`interposer.cpp`)."""

# The guest sees no host filesystem: not /etc, not the working directory, not /.
# (From its own /work, climbing out with .. is refused outright.)
for path in ["/etc/passwd", "../../../../etc/passwd", "Cargo.toml"]:
    try:
        open(path).read()
        print("LEAK", path)
    except OSError as e:
        print(type(e).__name__)

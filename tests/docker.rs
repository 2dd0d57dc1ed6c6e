//! There is no Docker engine here to build the image, so keep the Dockerfile
//! honest the cheap way: it must build with the README's own `make build` and
//! ship what the binary looks for.

const DOCKERFILE: &str = include_str!("../docker/Dockerfile");
const COMPOSE: &str = include_str!("../docker/compose.yaml");

#[test]
fn the_image_builds_with_the_same_make_build_as_the_readme() {
    assert!(DOCKERFILE.contains("RUN make build"));
    // make build runs pip (python guests) and npm (the javascript guest).
    for tool in ["python3-pip", "npm"] {
        assert!(DOCKERFILE.contains(tool), "the build stage lacks {tool}");
    }
    assert!(include_str!("../Makefile").contains("build: runtimes binary"));
}

#[test]
fn the_image_ships_the_runtimes_where_the_binary_is_told_to_look() {
    for needle in [
        "/src/build/runtimes /opt/goru/runtimes",
        "GORU_RUNTIME_DIR=/opt/goru/runtimes",
        "USER goru",
    ] {
        assert!(DOCKERFILE.contains(needle), "Dockerfile lacks {needle:?}");
    }
}

#[test]
fn compose_builds_this_dockerfile_and_publishes_on_loopback_only() {
    assert!(COMPOSE.contains("dockerfile: docker/Dockerfile"));
    assert!(COMPOSE.contains("\"127.0.0.1:8080:8080\""));
}

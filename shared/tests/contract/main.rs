//! One contract suite for every port, run unchanged against both adapters: the embedded
//! ones always, the AWS ones against the emulator named by `GESTOR_TEST_AWS_ENDPOINT`
//! (`infra/test.sh` starts moto and sets it, with `GESTOR_REQUIRE_AWS=1` so that a missing
//! emulator fails the run instead of skipping).

mod aws_env;
mod files;
mod mail;
mod queue;
mod secrets;
mod table;

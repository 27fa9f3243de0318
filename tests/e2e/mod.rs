mod support;

mod conversions;
mod agent;
mod deploy;
mod malformed;
mod no_panic;
mod platforms;
mod predict_check;
mod remote;
mod remote_dns;
mod remote_hosts;
mod remote_interrupt;
mod resources;
mod script;
mod secrets;
mod transcript;
mod transport;

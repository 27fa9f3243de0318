mod support;

mod conversions;
mod agent;
mod deploy;
mod malformed;
mod no_panic;
mod platforms;
mod predict_check;
mod resources;
mod script;
mod secrets;
mod transcript;
mod transport;

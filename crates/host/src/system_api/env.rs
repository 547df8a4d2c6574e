//! Environment variables: this host sets none.

use super::modes::*;
use super::system_api;
use crate::cost::SystemApiCost as Cost;

system_api! {
    env_var_count(_c) -> u32 [cost: Cost::DEFAULT, modes: anywhere] {
        Ok(0)
    }
    env_var_name_size(c, index: u32) -> u32 [cost: Cost::DEFAULT, modes: anywhere] {
        c.violation(format!("index {index} out of bounds (0 variables)"))
    }
    env_var_name_copy(c, index: u32, _dst: u32, _off: u32, _size: u32) -> ()
        [cost: Cost::DEFAULT, modes: anywhere]
    {
        c.violation(format!("index {index} out of bounds (0 variables)"))
    }
    env_var_name_exists(_c, _src: u32, _size: u32) -> u32 [cost: Cost::DEFAULT, modes: anywhere] {
        Ok(0)
    }
    env_var_value_size(c, _src: u32, _size: u32) -> u32 [cost: Cost::DEFAULT, modes: anywhere] {
        c.violation("no such environment variable")
    }
    env_var_value_copy(c, _src: u32, _size: u32, _dst: u32, _off: u32, _len: u32) -> ()
        [cost: Cost::DEFAULT, modes: anywhere]
    {
        c.violation("no such environment variable")
    }
}

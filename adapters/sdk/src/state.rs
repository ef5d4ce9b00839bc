//! Provider state (de)serialisation: adapters keep a serde struct and the
//! host stores it as opaque JSON bytes.

use crate::failure::error;
use crate::types::Failure;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A handover's state as a typed adapter declares it (see
/// [`TypedAdapter`](crate::TypedAdapter)): JSON through serde, `Default` for
/// a fresh handover, and a check run after every load (not at `start`).
pub trait HandoverState: Serialize + DeserializeOwned + Default {
    /// Fails when the loaded state cannot serve a call, e.g. it has no
    /// provider conversation id.
    fn check(&self) -> Result<(), Failure> {
        Ok(())
    }
}

/// For [`HandoverState::check`]: fails with ``no {what} in the handover
/// state`` unless the state holds it (`present`).
pub fn require(present: bool, what: &str) -> Result<(), Failure> {
    if present {
        return Ok(());
    }
    Err(error(format!("no {what} in the handover state")))
}

/// An agent as an adapter keeps one in its state (`{"id": …, "name": …}`),
/// e.g. the agent last reported as joined.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AgentRef {
    pub id: String,
    pub name: String,
}

impl AgentRef {
    /// The contract's agent.
    pub fn to_agent(&self) -> crate::types::Agent {
        crate::events::agent(&self.id, &self.name)
    }
}

impl From<&crate::types::Agent> for AgentRef {
    fn from(agent: &crate::types::Agent) -> Self {
        AgentRef {
            id: agent.id.clone(),
            name: agent.name.clone(),
        }
    }
}

/// Parses the state given by the host; empty bytes (a fresh handover, or a
/// call outside any handover) give `T::default()`.
pub fn load<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, Failure> {
    if bytes.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| error(format!("corrupt adapter state: {e}")))
}

/// Serialises state as JSON.
pub fn save<T: Serialize>(state: &T) -> Vec<u8> {
    // Serialising plain data structs to a Vec cannot fail (no I/O, string keys).
    serde_json::to_vec(state).expect("adapter state serialises to JSON")
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, Default, PartialEq, Debug)]
    struct S {
        n: u32,
    }

    #[test]
    fn require_names_what_is_missing() {
        assert!(super::require(true, "X room").is_ok());
        let failure = super::require(false, "X room").unwrap_err();
        assert_eq!(failure.message, "no X room in the handover state");
    }

    #[test]
    fn round_trip_and_empty() {
        assert_eq!(super::load::<S>(&[]).unwrap(), S::default());
        let bytes = super::save(&S { n: 3 });
        assert_eq!(super::load::<S>(&bytes).unwrap(), S { n: 3 });
        assert!(
            super::load::<S>(b"{")
                .unwrap_err()
                .message
                .contains("corrupt")
        );
    }
}

//! One value per capacity class: replicas, prices, lead times, observations. Indexed by the class
//! (`r[Class::Spot]`), never by a number, and written in the API as `{reserved, spot, onDemand}`.

use std::ops::{Index, IndexMut};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::classes::CapacityClassName as Class;

/// A value for each capacity class. `PerClass<u32>` is a replica count per class (an InferencePool's
/// `status.replicas` and `status.ready`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(bound = "T: JsonSchema + Default + Serialize")]
pub struct PerClass<T> {
    /// Reserved capacity.
    #[serde(default)]
    pub reserved: T,
    /// Spot capacity.
    #[serde(default)]
    pub spot: T,
    /// On-demand capacity.
    #[serde(default)]
    pub on_demand: T,
}

impl<T> PerClass<T> {
    /// The value of each class from a function of the class.
    pub fn from_fn(mut f: impl FnMut(Class) -> T) -> PerClass<T> {
        PerClass { reserved: f(Class::Reserved), spot: f(Class::Spot), on_demand: f(Class::OnDemand) }
    }

    /// Each class's value turned into another, as an array's `map`.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> PerClass<U> {
        PerClass { reserved: f(self.reserved), spot: f(self.spot), on_demand: f(self.on_demand) }
    }

    /// The classes and their values, in fill order (reserved, spot, on-demand).
    pub fn by_class(&self) -> impl Iterator<Item = (Class, &T)> {
        Class::ALL.into_iter().map(move |c| (c, &self[c]))
    }

    /// The values in fill order, as an array's `iter()`.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        [&self.reserved, &self.spot, &self.on_demand].into_iter()
    }

    /// The values in fill order, to change in place.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        [&mut self.reserved, &mut self.spot, &mut self.on_demand].into_iter()
    }
}

impl<T: Copy> PerClass<T> {
    /// The same value for every class.
    pub fn splat(v: T) -> PerClass<T> {
        PerClass { reserved: v, spot: v, on_demand: v }
    }

    /// The value of one class.
    pub fn get(&self, c: Class) -> T {
        self[c]
    }

    /// Each class's value combined with the other's of the same class.
    pub fn zip<U: Copy, V>(&self, other: &PerClass<U>, mut f: impl FnMut(T, U) -> V) -> PerClass<V> {
        PerClass::from_fn(|c| f(self[c], other[c]))
    }
}

impl<T: Copy + std::iter::Sum<T>> PerClass<T> {
    /// Sum over all classes.
    pub fn total(&self) -> T {
        self.iter().copied().sum()
    }
}

impl<T> Index<Class> for PerClass<T> {
    type Output = T;
    fn index(&self, c: Class) -> &T {
        match c {
            Class::Reserved => &self.reserved,
            Class::Spot => &self.spot,
            Class::OnDemand => &self.on_demand,
        }
    }
}

impl<T> IndexMut<Class> for PerClass<T> {
    fn index_mut(&mut self, c: Class) -> &mut T {
        match c {
            Class::Reserved => &mut self.reserved,
            Class::Spot => &mut self.spot,
            Class::OnDemand => &mut self.on_demand,
        }
    }
}

/// The values in fill order, as an array's `into_iter()`.
impl<T> IntoIterator for PerClass<T> {
    type Item = T;
    type IntoIter = std::array::IntoIter<T, 3>;
    fn into_iter(self) -> Self::IntoIter {
        [self.reserved, self.spot, self.on_demand].into_iter()
    }
}

impl<'a, T> IntoIterator for &'a mut PerClass<T> {
    type Item = &'a mut T;
    type IntoIter = std::array::IntoIter<&'a mut T, 3>;
    fn into_iter(self) -> Self::IntoIter {
        [&mut self.reserved, &mut self.spot, &mut self.on_demand].into_iter()
    }
}

/// `[reserved, spot, on-demand]`, for tables and tests that write the three values in fill order.
impl<T> From<[T; 3]> for PerClass<T> {
    fn from([reserved, spot, on_demand]: [T; 3]) -> PerClass<T> {
        PerClass { reserved, spot, on_demand }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexed_by_class_and_written_as_the_api_spells_it() {
        let mut r: PerClass<u32> = [1, 2, 3].into();
        r[Class::Spot] += 5;
        assert_eq!((r[Class::Reserved], r[Class::Spot], r[Class::OnDemand]), (1, 7, 3));
        assert_eq!(r.total(), 11);
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"reserved":1,"spot":7,"onDemand":3}"#);
        let partial: PerClass<u32> = serde_json::from_str(r#"{"spot":2}"#).unwrap();
        assert_eq!(partial, PerClass { reserved: 0, spot: 2, on_demand: 0 });
        assert_eq!(r.map(|v| v * 2), [2, 14, 6].into());
        assert_eq!(PerClass::from_fn(|c| if c == Class::Spot { r[c] } else { 0 }), [0, 7, 0].into());
        assert_eq!(r.by_class().map(|(c, _)| c).collect::<Vec<_>>(), Class::ALL);
    }
}

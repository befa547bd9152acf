// Sakila, MariaDB → Tandem's PostgreSQL port of it (test/fixtures/sakila/postgres.sql): exactly what
// `tandem init --source mysql://root@127.0.0.1:3306/sakila --target postgres://postgres@127.0.0.1:5432/sakila`
// writes, with NO edit: payment's key (the partitioned target's primary key), the fill order (payment after the
// parents its partitions' foreign keys name), `cast: 'array'` for the SET → text[] column, `cast: 'wkb'` for the
// GEOMETRY → bytea column and film.fulltext left to its trigger all come from init. Its comments are init's notes
// on the lines it was unsure of. See README.md for the commands, and for the one legacy step the way back needs.
import { defineConfig } from 'tandem';

export default defineConfig({
  source: process.env.SOURCE_URL ?? 'mysql://root@127.0.0.1:3306/sakila',
  target: process.env.TARGET_URL ?? 'postgres://postgres@127.0.0.1:5432/sakila',
  // parents first, from the target's foreign keys
  order: [
    'actor',
    'category',
    'country',
    'city',
    'address',
    'language',
    'film',
    'film_actor',
    'film_category',
    'staff',
    'store',
    'customer',
    'inventory',
    'rental',
    'payment',
  ],
  entities: {
    actor: {
      table: 'actor',
      key: 'actor_id',
      // version: 'version', // no version column found: the apply uses last-writer-wins
      targets: [
        {
          table: 'actor',
          columns: {
            actor_id: 'actor_id',
            first_name: 'first_name',
            last_name: 'last_name',
            last_update: 'last_update', // if the source holds zero dates (0000-00-00), map { from: 'last_update', cast: 'zero-date-null' } to write NULL; source timestamp, target timestamp(0) with time zone: init cannot tell that every value fits (each is checked when written); a trigger of the target (last_updated) also assigns it: what it writes is what lands
          },
        },
      ],
    },
    category: {
      table: 'category',
      key: 'category_id',
      // version: 'version', // no version column found: the apply uses last-writer-wins
      targets: [
        {
          table: 'category',
          columns: {
            category_id: 'category_id',
            name: 'name',
            last_update: 'last_update', // if the source holds zero dates (0000-00-00), map { from: 'last_update', cast: 'zero-date-null' } to write NULL; source timestamp, target timestamp(0) with time zone: init cannot tell that every value fits (each is checked when written); a trigger of the target (last_updated) also assigns it: what it writes is what lands
          },
        },
      ],
    },
    country: {
      table: 'country',
      key: 'country_id',
      // version: 'version', // no version column found: the apply uses last-writer-wins
      targets: [
        {
          table: 'country',
          columns: {
            country_id: 'country_id',
            country: 'country',
            last_update: 'last_update', // if the source holds zero dates (0000-00-00), map { from: 'last_update', cast: 'zero-date-null' } to write NULL; source timestamp, target timestamp(0) with time zone: init cannot tell that every value fits (each is checked when written); a trigger of the target (last_updated) also assigns it: what it writes is what lands
          },
        },
      ],
    },
    city: {
      table: 'city',
      key: 'city_id',
      // version: 'version', // no version column found: the apply uses last-writer-wins
      targets: [
        {
          table: 'city',
          columns: {
            city_id: 'city_id',
            city: 'city',
            country_id: 'country_id',
            last_update: 'last_update', // if the source holds zero dates (0000-00-00), map { from: 'last_update', cast: 'zero-date-null' } to write NULL; source timestamp, target timestamp(0) with time zone: init cannot tell that every value fits (each is checked when written); a trigger of the target (last_updated) also assigns it: what it writes is what lands
          },
        },
      ],
    },
    address: {
      table: 'address',
      key: 'address_id',
      // version: 'version', // no version column found: the apply uses last-writer-wins
      targets: [
        {
          table: 'address',
          columns: {
            address_id: 'address_id',
            address: 'address',
            address2: 'address2',
            district: 'district',
            city_id: 'city_id',
            postal_code: 'postal_code',
            phone: 'phone',
            location: { from: 'location', cast: 'wkb' }, // spatial geometry → bytea: cast 'wkb' writes it as WKB bytes
            last_update: 'last_update', // if the source holds zero dates (0000-00-00), map { from: 'last_update', cast: 'zero-date-null' } to write NULL; source timestamp, target timestamp(0) with time zone: init cannot tell that every value fits (each is checked when written); a trigger of the target (last_updated) also assigns it: what it writes is what lands
          },
        },
      ],
    },
    language: {
      table: 'language',
      key: 'language_id',
      // version: 'version', // no version column found: the apply uses last-writer-wins
      targets: [
        {
          table: 'language',
          columns: {
            language_id: 'language_id',
            name: 'name',
            last_update: 'last_update', // if the source holds zero dates (0000-00-00), map { from: 'last_update', cast: 'zero-date-null' } to write NULL; source timestamp, target timestamp(0) with time zone: init cannot tell that every value fits (each is checked when written); a trigger of the target (last_updated) also assigns it: what it writes is what lands
          },
        },
      ],
    },
    film: {
      table: 'film',
      key: 'film_id',
      // version: 'version', // no version column found: the apply uses last-writer-wins
      targets: [
        {
          table: 'film',
          columns: {
            film_id: 'film_id',
            title: 'title',
            description: 'description',
            release_year: 'release_year',
            language_id: 'language_id',
            original_language_id: 'original_language_id',
            rental_duration: 'rental_duration',
            rental_rate: 'rental_rate',
            length: 'length', // source smallint(5) unsigned, target smallint: init cannot tell that every value fits (each is checked when written)
            replacement_cost: 'replacement_cost',
            rating: 'rating',
            special_features: { from: 'special_features', cast: 'array' }, // MySQL SET → text[]: cast 'array' splits the comma-separated labels
            last_update: 'last_update', // if the source holds zero dates (0000-00-00), map { from: 'last_update', cast: 'zero-date-null' } to write NULL; source timestamp, target timestamp(0) with time zone: init cannot tell that every value fits (each is checked when written); a trigger of the target (film_fulltext, last_updated) also assigns it: what it writes is what lands
            // fulltext: filled by a trigger of the target (film_fulltext, last_updated)
          },
        },
      ],
    },
    film_actor: {
      table: 'film_actor',
      key: ['actor_id', 'film_id'],
      // version: 'version', // no version column found: the apply uses last-writer-wins
      targets: [
        {
          table: 'film_actor',
          columns: {
            actor_id: 'actor_id',
            film_id: 'film_id',
            last_update: 'last_update', // if the source holds zero dates (0000-00-00), map { from: 'last_update', cast: 'zero-date-null' } to write NULL; source timestamp, target timestamp(0) with time zone: init cannot tell that every value fits (each is checked when written); a trigger of the target (last_updated) also assigns it: what it writes is what lands
          },
        },
      ],
    },
    film_category: {
      table: 'film_category',
      key: ['film_id', 'category_id'],
      // version: 'version', // no version column found: the apply uses last-writer-wins
      targets: [
        {
          table: 'film_category',
          columns: {
            film_id: 'film_id',
            category_id: 'category_id',
            last_update: 'last_update', // if the source holds zero dates (0000-00-00), map { from: 'last_update', cast: 'zero-date-null' } to write NULL; source timestamp, target timestamp(0) with time zone: init cannot tell that every value fits (each is checked when written); a trigger of the target (last_updated) also assigns it: what it writes is what lands
          },
        },
      ],
    },
    staff: {
      table: 'staff',
      key: 'staff_id',
      // version: 'version', // no version column found: the apply uses last-writer-wins
      sensitive: ['password'], // secrets: verify, errors and logs never show these values
      targets: [
        {
          table: 'staff',
          columns: {
            staff_id: 'staff_id',
            first_name: 'first_name',
            last_name: 'last_name',
            address_id: 'address_id',
            picture: 'picture',
            email: 'email',
            store_id: 'store_id',
            active: 'active',
            username: 'username',
            password: 'password',
            last_update: 'last_update', // if the source holds zero dates (0000-00-00), map { from: 'last_update', cast: 'zero-date-null' } to write NULL; source timestamp, target timestamp(0) with time zone: init cannot tell that every value fits (each is checked when written); a trigger of the target (last_updated) also assigns it: what it writes is what lands
          },
        },
      ],
    },
    store: {
      table: 'store',
      key: 'store_id',
      // version: 'version', // no version column found: the apply uses last-writer-wins
      targets: [
        {
          table: 'store',
          columns: {
            store_id: 'store_id',
            manager_staff_id: 'manager_staff_id',
            address_id: 'address_id',
            last_update: 'last_update', // if the source holds zero dates (0000-00-00), map { from: 'last_update', cast: 'zero-date-null' } to write NULL; source timestamp, target timestamp(0) with time zone: init cannot tell that every value fits (each is checked when written); a trigger of the target (last_updated) also assigns it: what it writes is what lands
          },
        },
      ],
    },
    customer: {
      table: 'customer',
      key: 'customer_id',
      // version: 'version', // no version column found: the apply uses last-writer-wins
      targets: [
        {
          table: 'customer',
          columns: {
            customer_id: 'customer_id',
            store_id: 'store_id',
            first_name: 'first_name',
            last_name: 'last_name',
            email: 'email',
            address_id: 'address_id',
            active: 'active',
            create_date: 'create_date', // if the source holds zero dates (0000-00-00), map { from: 'create_date', cast: 'zero-date-null' } to write NULL; source datetime, target timestamp(0) without time zone: init cannot tell that every value fits (each is checked when written)
            last_update: 'last_update', // if the source holds zero dates (0000-00-00), map { from: 'last_update', cast: 'zero-date-null' } to write NULL; source timestamp, target timestamp(0) with time zone: init cannot tell that every value fits (each is checked when written); a trigger of the target (last_updated) also assigns it: what it writes is what lands
          },
        },
      ],
    },
    inventory: {
      table: 'inventory',
      key: 'inventory_id',
      // version: 'version', // no version column found: the apply uses last-writer-wins
      targets: [
        {
          table: 'inventory',
          columns: {
            inventory_id: 'inventory_id',
            film_id: 'film_id',
            store_id: 'store_id',
            last_update: 'last_update', // if the source holds zero dates (0000-00-00), map { from: 'last_update', cast: 'zero-date-null' } to write NULL; source timestamp, target timestamp(0) with time zone: init cannot tell that every value fits (each is checked when written); a trigger of the target (last_updated) also assigns it: what it writes is what lands
          },
        },
      ],
    },
    rental: {
      table: 'rental',
      key: 'rental_id',
      // version: 'version', // no version column found: the apply uses last-writer-wins
      targets: [
        {
          table: 'rental',
          columns: {
            rental_id: 'rental_id',
            rental_date: 'rental_date', // if the source holds zero dates (0000-00-00), map { from: 'rental_date', cast: 'zero-date-null' } to write NULL; source datetime, target timestamp(0) without time zone: init cannot tell that every value fits (each is checked when written)
            inventory_id: 'inventory_id',
            customer_id: 'customer_id',
            return_date: 'return_date', // if the source holds zero dates (0000-00-00), map { from: 'return_date', cast: 'zero-date-null' } to write NULL; source datetime, target timestamp(0) without time zone: init cannot tell that every value fits (each is checked when written)
            staff_id: 'staff_id',
            last_update: 'last_update', // if the source holds zero dates (0000-00-00), map { from: 'last_update', cast: 'zero-date-null' } to write NULL; source timestamp, target timestamp(0) with time zone: init cannot tell that every value fits (each is checked when written); a trigger of the target (last_updated) also assigns it: what it writes is what lands
          },
        },
      ],
    },
    payment: {
      table: 'payment',
      key: ['payment_date', 'payment_id'], // target "payment" is partitioned; its primary key is (payment_date, payment_id), not (payment_id): keyed on the source columns (payment_date, payment_id), unique on the source too, as they contain its key
      // version: 'version', // no version column found: the apply uses last-writer-wins
      targets: [
        {
          table: 'payment',
          columns: {
            payment_id: 'payment_id',
            customer_id: 'customer_id',
            staff_id: 'staff_id',
            rental_id: 'rental_id',
            amount: 'amount',
            payment_date: 'payment_date', // if the source holds zero dates (0000-00-00), map { from: 'payment_date', cast: 'zero-date-null' } to write NULL; source datetime, target timestamp(0) without time zone: init cannot tell that every value fits (each is checked when written)
            last_update: 'last_update', // if the source holds zero dates (0000-00-00), map { from: 'last_update', cast: 'zero-date-null' } to write NULL; source timestamp, target timestamp(0) with time zone: init cannot tell that every value fits (each is checked when written); a trigger of the target (last_updated) also assigns it: what it writes is what lands
          },
        },
      ],
    },
  },
});

// Source tables left out:
//   film_text: no matching target table

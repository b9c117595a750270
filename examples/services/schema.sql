-- Run once before the job by `mayfly exec --service-init schema.sql`.
create table todos (
	id serial primary key,
	title text not null,
	done boolean not null default false
);
insert into todos (title) values ('write the schema'), ('run the tests');
